/* test_rtt.c - RFC 6298 smoothing shared by ota-client's link and ota-load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rtt.h"

static void first_sample_sets_both(void **state)
{
    struct rtt e = {0, 0};
    (void)state;
    assert_int_equal(rtt_rto(&e), 0);
    rtt_sample(&e, 200);
    assert_int_equal(e.srtt, 200);
    assert_int_equal(e.rttvar, 100);
    assert_int_equal(rtt_rto(&e), 600);
}

static void later_samples_smooth(void **state)
{
    struct rtt e = {0, 0};
    (void)state;
    rtt_sample(&e, 200);
    rtt_sample(&e, 600);
    assert_int_equal(e.rttvar, (3 * 100 + 400) / 4);
    assert_int_equal(e.srtt, (7 * 200 + 600) / 8);
}

/* srtt 0 means "no sample": zero round trips keep it at 1 */
static void zero_samples_stay_measured(void **state)
{
    struct rtt e = {0, 0};
    (void)state;
    rtt_sample(&e, 0);
    assert_int_equal(e.srtt, 1);
    rtt_sample(&e, 0);
    assert_int_equal(e.srtt, 1);
    assert_true(rtt_rto(&e) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_sample_sets_both),
        cmocka_unit_test(later_samples_smooth),
        cmocka_unit_test(zero_samples_stay_measured),
    };
    return cmocka_run_group_tests_name("rtt", tests, NULL, NULL);
}
