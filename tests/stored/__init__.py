"""End-to-end tests of stored volumes against a real SeaweedFS."""
