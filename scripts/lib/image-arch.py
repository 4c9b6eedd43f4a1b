"""Rewrites the architecture of a `docker save` archive (stdin) to the one given and writes the archive
for `docker load` (stdout). scripts/engine uses it for the arm64 base: Docker 20.10 imports every root
file system as the host's architecture and ignores `docker import --platform`.

    docker save IMAGE:TAG.amd64 | python3 image-arch.py arm64 | docker load
"""

import hashlib
import io
import json
import sys
import tarfile


def main(arch: str) -> None:
    with tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read())) as source, \
            tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as out:
        retag(source, out, arch)


def retag(source: tarfile.TarFile, out: tarfile.TarFile, arch: str) -> None:
    members = {m.name: m for m in source.getmembers()}
    manifest = json.load(source.extractfile("manifest.json"))
    config_name = manifest[0]["Config"]
    config = json.load(source.extractfile(config_name))
    config["architecture"] = arch
    new_config = json.dumps(config).encode()
    new_name = hashlib.sha256(new_config).hexdigest() + ".json"
    manifest[0]["Config"] = new_name
    manifest[0]["RepoTags"] = [tag.removesuffix(".amd64") for tag in manifest[0]["RepoTags"]]
    for name, member in members.items():
        if name in ("manifest.json", config_name, "repositories"):
            continue
        out.addfile(member, source.extractfile(member) if member.isfile() else None)
    for name, data in (("manifest.json", json.dumps(manifest).encode()), (new_name, new_config)):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))

if __name__ == "__main__":
    main(sys.argv[1])
