"""Helpers the tests share: real servers started on port 0, client flows, nginx, disks, hosts."""
