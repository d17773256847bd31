"""What a request means: the overlay backend, naming, inventory."""
