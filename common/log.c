/* log.c - timestamped, level-filtered log lines to a stream chosen by main.
 */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static enum log_level log_level_now = LOG_L_INFO;
static FILE *log_stream;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level lvl)
{
    log_level_now = lvl;
}

enum log_level log_get_level(void)
{
    return log_level_now;
}

void log_set_stream(FILE *fp)
{
    log_stream = fp;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_L_DEBUG; i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    char line[1024], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    if (lvl > log_level_now)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    FILE *fp = log_stream ? log_stream : stderr;
    fprintf(fp, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000L, log_names[lvl], line);
    fflush(fp);
}
