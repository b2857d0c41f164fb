"""The web application: pages in French for operators, billing staff, subscribers and administrators."""
