"""The Credentials emulator's tests over real HTTP; fixtures in ``conftest``, helpers in ``support``."""
