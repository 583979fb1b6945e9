"""Sample tape images and the script that builds them."""
