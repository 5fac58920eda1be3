"""File systems on loop devices, for the tests that need a data root of a
given kind (project quotas, btrfs subvolumes). The image is a sparse file
in the test's directory; the mount lives only in the test's own mount
namespace (the tests run under `unshare --mount`), and the test unmounts
and detaches in its `finally`, after stopping what uses the mount."""

import os
import subprocess

# mkfs for each kind of image.
MKFS = {
    # ext4 with project quotas, enforced from the mount on.
    "ext4-quota": ["mkfs.ext4", "-q", "-F", "-O", "quota,project", "-E", "quotatype=prjquota"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
}


def make_image(img, kind, size="256M"):
    """A fresh image file `img` of `size` (sparse) holding a file system of
    `kind` (a key of MKFS)."""
    img.unlink(missing_ok=True)
    subprocess.run(["truncate", "-s", size, str(img)], check=True)
    r = subprocess.run(MKFS[kind] + [str(img)], capture_output=True, text=True)
    assert r.returncode == 0, (MKFS[kind], r.stderr)


def mount_image(img, at):
    """Attaches `img` to a free loop device and mounts it at `at`, which
    keeps its mode. Returns (loop device, ""), or (None, mount's error)
    when this kernel cannot mount it (the loop device is detached again)."""
    mode = os.stat(at).st_mode & 0o7777
    r = subprocess.run(["losetup", "--find", "--show", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loop = r.stdout.strip()
    m = subprocess.run(["mount", loop, str(at)], capture_output=True, text=True)
    if m.returncode != 0:
        subprocess.run(["losetup", "-d", loop], check=False)
        return None, m.stderr.strip()
    os.chmod(at, mode)
    return loop, ""


def unmount_image(at, loop):
    """Undoes mount_image; best effort, for a `finally`."""
    subprocess.run(["umount", str(at)], check=False)
    subprocess.run(["losetup", "-d", loop], check=False)
