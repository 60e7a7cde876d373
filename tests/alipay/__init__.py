"""Tests of the Alipay seam, notifications, bill files and the local gateway, all on localhost."""
