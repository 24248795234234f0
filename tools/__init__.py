"""Developer tools (not shipped): learning the readers' weights on the shared dev sets."""
