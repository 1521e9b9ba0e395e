#define _GNU_SOURCE
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "CLinux.h"

int linux_syncfs(int fd) { return syncfs(fd); }

int linux_start_writeback(int fd) { return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }

long long linux_filesystem_type(const char *path) {
    struct statfs info;
    return statfs(path, &info) == 0 ? (long long)info.f_type : -1;
}

int linux_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int linux_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}

int linux_peer_credentials(int fd, int *pid, unsigned *uid, unsigned *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int linux_thread_id(void) { return (int)gettid(); }

int linux_pipe(int fds[2], int flags) { return pipe2(fds, flags); }

int linux_accept(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }
