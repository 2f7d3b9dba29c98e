"""What people look at: notebook players and plots, notebook settings and export, the listening report."""
