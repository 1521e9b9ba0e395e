#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>
#include "CLinux.h"

int linux_syncfs(int fd) { return syncfs(fd); }

int linux_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }
