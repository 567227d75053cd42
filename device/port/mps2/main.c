/* main.c - bring-up: hello on the console, echo on the modem UART. */
#include "mps2.h"

int main(void)
{
    mps2_uart_init();
    mps2_clock_init();
    __asm volatile("cpsie i");
    mps2_puts("hello from mps2\n");
    uint32_t t0 = mps2_now_ms(), n = 0;
    for (;;) {
        int c = mps2_modem_getc(mps2_now_ms() + 3000);
        if (c < 0)
            break;
        if (c == 'Q')
            break;
        n++;
    }
    mps2_puts("got ");
    mps2_putu(n);
    mps2_puts(" bytes in ");
    mps2_putu(mps2_now_ms() - t0);
    mps2_puts(" ms, lost ");
    mps2_putu(mps2_modem_overruns());
    mps2_puts("\n");
    return 7;
}
