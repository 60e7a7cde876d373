"""Alipay for the platform: SDK client seam, notification checks and daily bill files."""
