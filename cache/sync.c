/* sync.c - put the cache on every gateway: one rsync per destination.
 *
 * rsync writes each file under a dot-prefixed temporary name in the
 * destination directory and renames it into place when it is complete
 * (ota-server never indexes dot files), so every package switches
 * atomically and a release is published package by package, in name
 * order. Only *.pkg files are sent and deleted (--delete-after: a package
 * pruned here goes from the gateway once the new ones are in place);
 * anything else in a destination directory is left alone. --fsync: a
 * gateway that loses power right after sync keeps whole packages.
 */
#include "cache.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

/* rsync's exit status for one destination, or -1 if it could not run. */
static int cache_sync_one(const char *src, const char *dest)
{
    char *argv[] = {"rsync", "-rt", "--fsync", "--delete-after", "--include=*.pkg",
                    "--exclude=*", (char *)src, (char *)dest, NULL};
    pid_t pid;
    int st;
    if (posix_spawnp(&pid, "rsync", NULL, NULL, argv, environ) != 0)
        return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

enum ota_err cache_sync(const char *dir, const char *const *dests, int ndest,
                        cache_sync_cb cb, void *ctx, char *msg)
{
    char src[4096];
    int failed = 0;
    if (snprintf(src, sizeof src, "%s/", dir) >= (int)sizeof src)
        return ota_fail(msg, OTA_E_LIMIT, "sync: cache directory name too long");
    for (int i = 0; i < ndest; i++) {
        int rc = cache_sync_one(src, dests[i]);
        if (cb)
            cb(ctx, dests[i], rc);
        failed += rc != 0;
    }
    if (failed)
        return ota_fail(msg, OTA_E_IO, "sync: %d of %d destination(s) failed (rsync missing, "
                        "destination unreachable or not writable)", failed, ndest);
    return OTA_OK;
}
