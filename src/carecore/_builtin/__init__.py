"""carecore's own plugins, implemented with the same hooks as installed ones."""
