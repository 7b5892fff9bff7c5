"""Tools for developing and measuring the app on a machine without a sound card: not used by the app itself.

Tests, benchmarks and scripts share them: a private PulseAudio with a virtual microphone and speaker, speech
from espeak-ng, and the measurements that compare what was played with what was recorded.
"""
