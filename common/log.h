/* log.h - the one place the library may write text.
 *
 * main() chooses the destination (default stderr) and level; library code
 * calls log_msg() for events worth an operator's attention. Lines are
 * "<ISO time> <level> <message>" and never contain a newline of their own.
 */
#ifndef LOG_H
#define LOG_H

#include <stdio.h>

/* LOG_L_ prefix: syslog.h (pulled in by libcoap) owns LOG_INFO/LOG_DEBUG. */
enum log_level { LOG_L_ERROR = 0, LOG_L_WARN, LOG_L_INFO, LOG_L_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* NULL restores stderr. The stream is not closed by the logger. */
void log_set_stream(FILE *fp);
/* Parse "error|warn|info|debug"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
