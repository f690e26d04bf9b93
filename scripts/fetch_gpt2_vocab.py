"""Put GPT-2's BPE ranks (`gpt2.tiktoken`) into the mosslite cache, taken from the openai-whisper sdist on PyPI.

Idempotent: does nothing when the cached file is there with the right checksum. Exits 0 with a warning when the
registry cannot be reached, so an offline install still succeeds (the GPT-2 parity test then skips, saying why).
"""

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from mosslite import cache_dir
from mosslite.tokenizer.gpt2 import GPT2_FILE, GPT2_SHA256

WHISPER = "openai-whisper==20250625"


def main() -> int:
    target = Path(cache_dir()) / GPT2_FILE
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == GPT2_SHA256:
        print(f"{target}: already cached")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", WHISPER, "-d", tmp]
        if subprocess.run(cmd, capture_output=True, timeout=300).returncode != 0:
            print(f"warning: could not download {WHISPER}; the GPT-2 parity test will skip", file=sys.stderr)
            return 0
        archive = next(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(f"assets/{GPT2_FILE}"))
            data = tar.extractfile(member).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != GPT2_SHA256:
        print(f"warning: {GPT2_FILE} from {WHISPER} has sha256 {digest}, expected {GPT2_SHA256}; not cached",
              file=sys.stderr)
        return 0
    target.write_bytes(data)
    print(f"{target}: cached ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
