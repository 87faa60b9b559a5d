"""vpsmcp.doctor: the doctor, against its own fakes and against real servers."""
