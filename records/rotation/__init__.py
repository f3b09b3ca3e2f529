"""Key rotation: re-wrap every data key under the current key-encryption key, online and resumable."""
