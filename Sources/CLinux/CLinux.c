#define _GNU_SOURCE
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "CLinux.h"

int linux_syncfs(int fd) { return syncfs(fd); }

int linux_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

int linux_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}
