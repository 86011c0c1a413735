"""Virtual clock: wall time plus an offset that /_pvesim/clock/advance moves forward."""

import time


class Clock:
    def __init__(self, time_scale=0.0):
        self.offset = 0.0
        self.time_scale = float(time_scale)

    def now(self):
        return time.time() + self.offset

    def advance(self, seconds):
        self.offset += float(seconds)

    def duration(self, nominal):
        """Virtual seconds a task of nominal length takes at the configured time scale."""
        return nominal * self.time_scale
