"""Publishers: the steadied depth leaves the daemon here (ZeroMQ, imagezmq, the HTTP preview). Every publisher is a
stage: `start()`, `stop(timeout)` and a never-blocking `publish(frame)` (see `base.Publisher`)."""
