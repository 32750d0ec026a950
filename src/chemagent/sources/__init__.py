"""Upstreams reached over the network: the optional LLM (and, later, the ChEMBL REST API)."""
