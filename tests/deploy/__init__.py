"""What ships: the pyz, the wheel, and vpsmcp behind Debian's nginx."""
