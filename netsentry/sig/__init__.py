"""Suricata/Snort signatures: parse, translate into netsentry rules, and run them."""
