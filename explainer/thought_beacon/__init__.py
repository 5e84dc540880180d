"""thought_beacon."""
