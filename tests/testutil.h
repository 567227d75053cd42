/* testutil.h - small helpers shared by the cmocka suites: a private
 * temporary directory per suite, and its removal.
 *
 * Header-only (static functions) because every tests/test_*.c links on its
 * own; include it after cmocka.h.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* mkdtemp "/tmp/<name>.XXXXXX" into dir (n bytes); 0 on success. */
static inline int test_tmpdir_make(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "/tmp/%s.XXXXXX", name);
    return mkdtemp(dir) ? 0 : -1;
}

/* Remove d and everything below it (suites create at most a few levels). */
static inline void test_tree_remove(const char *d)
{
    char p[4096];
    DIR *dp = opendir(d);
    if (!dp) {
        unlink(d);
        return;
    }
    for (struct dirent *de; (de = readdir(dp)) != NULL;) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        if (unlink(p) != 0)
            test_tree_remove(p);
    }
    closedir(dp);
    rmdir(d);
}

#endif
