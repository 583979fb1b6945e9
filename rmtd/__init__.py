"""rmtd: a remote magnetic tape (RMT) server, and ``vmt``, an mt for virtual and remote drives."""
