"""ML Metadata access: connection configs and the store penstock records every run in."""
