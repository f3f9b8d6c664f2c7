"""`depth-streamer bench model|pipeline`: the network alone, and the whole pipeline against the official loop."""
