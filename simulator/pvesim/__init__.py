"""pvesim: a stateful Proxmox VE 9 API simulator (loopback HTTPS)."""

__version__ = "0.1.0"
