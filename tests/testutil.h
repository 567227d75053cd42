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

#ifdef SRV_LIMIT_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* The server's source key of ip (IPv4 or IPv6 text) and port; include
 * limit.h first. */
static inline struct srv_peer_key test_peer_key(const char *ip, uint16_t port)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct srv_peer_key k;
    memset(&a6, 0, sizeof a6);
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(port);
    int v4 = inet_pton(AF_INET, ip, &a4.sin_addr) == 1;
    if (!v4)
        assert_int_equal(inet_pton(AF_INET6, ip, &a6.sin6_addr), 1);
    assert_int_equal(srv_peer_key(v4 ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6, &k),
                     OTA_OK);
    return k;
}
#endif

#endif
