"""Detection, tracking and persistent identity of actors and objects."""
