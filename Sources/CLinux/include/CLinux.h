// GNU extensions of glibc that Swift's Glibc module does not import (they need _GNU_SOURCE).
#pragma once

/// syncfs(2): flushes the whole filesystem holding `fd`.
int linux_syncfs(int fd);

/// sync_file_range(2) with SYNC_FILE_RANGE_WRITE over the whole file: starts its writeback
/// without waiting, so that a later fdatasync finds the pages on their way.
int linux_start_writeback(int fd);

/// The statfs(2) type (magic number) of the filesystem holding `path`, or -1.
long long linux_filesystem_type(const char *path);

/// Names the calling thread (at most 15 bytes show), for ps, top and gdb.
int linux_set_thread_name(const char *name);

/// renameat2(2) with RENAME_NOREPLACE: fails with EEXIST instead of replacing `to`; EINVAL
/// where the filesystem cannot do it.
int linux_rename_noreplace(const char *from, const char *to);

/// The pid, uid and gid of the process at the other end of a Unix socket (SO_PEERCRED).
int linux_peer_credentials(int fd, int *pid, unsigned *uid, unsigned *gid);

/// The calling thread's kernel id, for per-thread scheduling priority.
int linux_thread_id(void);

/// pipe2(2): a pipe whose two ends are created with `flags` (O_CLOEXEC, O_NONBLOCK) at once.
int linux_pipe(int fds[2], int flags);

/// accept4(2): the connection's descriptor is created with `flags` (SOCK_CLOEXEC, SOCK_NONBLOCK).
int linux_accept(int fd, int flags);
