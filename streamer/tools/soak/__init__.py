"""`depth-streamer bench soak`: one real daemon under realistic clients for minutes, measured from outside."""
