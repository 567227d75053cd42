/* board.c - mps2-an386 drivers: CMSDK APB UART, SysTick, semihosting.
 *
 * The modem UART receives by interrupt into a small ring so no byte is
 * lost while the library computes (the CMSDK UART holds one byte); it
 * transmits by polling, as the modem takes bytes as fast as we give them.
 * The console UART only transmits. Waiting is WFI, so an idle firmware
 * does not spin a host core.
 */
#include <string.h>

#include "mps2.h"

/* CMSDK APB UART registers (ARM DDI0479C) */
#define UART_DATA 0x00
#define UART_STATE 0x04
#define UART_CTRL 0x08
#define UART_INTSTATUS 0x0c
#define UART_BAUDDIV 0x10
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u
#define UART_CTRL_RX_INTEN 0x8u
#define UART_INT_RX 0x2u
/* 25 MHz / 217 = 115200 baud; QEMU ignores a divisor below 16. */
#define UART_BAUDDIV_115200 217u

/* Cortex-M4 system registers */
#define SYST_CSR 0xe000e010u
#define SYST_RVR 0xe000e014u
#define SYST_CVR 0xe000e018u
#define NVIC_ISER0 0xe000e100u

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

static volatile uint32_t mps2_ms;
static uint8_t mps2_ring[MPS2_RX_RING];
static volatile uint32_t mps2_ring_head, mps2_ring_tail; /* head: ISR writes */
static volatile uint32_t mps2_lost;

void mps2_uart_init(void)
{
    REG(MPS2_UART_CONSOLE + UART_BAUDDIV) = UART_BAUDDIV_115200;
    REG(MPS2_UART_CONSOLE + UART_CTRL) = UART_CTRL_TX_EN;
    REG(MPS2_UART_MODEM + UART_BAUDDIV) = UART_BAUDDIV_115200;
    REG(MPS2_UART_MODEM + UART_CTRL) = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
    REG(NVIC_ISER0) = 1u << MPS2_IRQ_MODEM_RX;
}

void mps2_modem_rx_isr(void)
{
    REG(MPS2_UART_MODEM + UART_INTSTATUS) = UART_INT_RX;
    while (REG(MPS2_UART_MODEM + UART_STATE) & UART_STATE_RXFULL) {
        uint8_t c = (uint8_t)REG(MPS2_UART_MODEM + UART_DATA);
        uint32_t head = mps2_ring_head;
        if (head - mps2_ring_tail == MPS2_RX_RING) {
            mps2_lost++;
            continue;
        }
        mps2_ring[head % MPS2_RX_RING] = c;
        mps2_ring_head = head + 1;
    }
}

uint32_t mps2_modem_overruns(void)
{
    return mps2_lost;
}

int mps2_modem_getc(uint32_t deadline_ms)
{
    for (;;) {
        uint32_t tail = mps2_ring_tail;
        if (mps2_ring_head != tail) {
            uint8_t c = mps2_ring[tail % MPS2_RX_RING];
            mps2_ring_tail = tail + 1;
            return c;
        }
        if ((int32_t)(mps2_now_ms() - deadline_ms) >= 0)
            return -1;
        mps2_idle();
    }
}

void mps2_uart_putc(uint32_t base, uint8_t c)
{
    while (REG(base + UART_STATE) & UART_STATE_TXFULL)
        ;
    REG(base + UART_DATA) = c;
}

void mps2_uart_write(uint32_t base, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len--)
        mps2_uart_putc(base, *p++);
}

void mps2_systick_isr(void)
{
    mps2_ms++;
}

void mps2_clock_init(void)
{
    REG(SYST_RVR) = MPS2_SYSCLK_HZ / 1000u - 1u;
    REG(SYST_CVR) = 0;
    REG(SYST_CSR) = 0x7; /* processor clock, interrupt, enable */
}

uint32_t mps2_now_ms(void)
{
    return mps2_ms;
}

void mps2_idle(void)
{
    /* An interrupt between the caller's check and WFI still wakes it: WFI
     * returns at once when one is pending, and SysTick comes every ms. */
    __asm volatile("wfi");
}

void mps2_puts(const char *s)
{
    while (*s)
        mps2_uart_putc(MPS2_UART_CONSOLE, (uint8_t)*s++);
}

void mps2_putu(uint32_t v)
{
    char d[11];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        mps2_uart_putc(MPS2_UART_CONSOLE, (uint8_t)d[--n]);
}

void mps2_puthex(const uint8_t *buf, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        mps2_uart_putc(MPS2_UART_CONSOLE, (uint8_t)digits[buf[i] >> 4]);
        mps2_uart_putc(MPS2_UART_CONSOLE, (uint8_t)digits[buf[i] & 15]);
    }
}

/* --- semihosting: BKPT 0xAB, operation in r0, argument block in r1 --- */

#define SEMI_SYS_OPEN 0x01
#define SEMI_SYS_CLOSE 0x02
#define SEMI_SYS_WRITE 0x05
#define SEMI_SYS_EXIT_EXTENDED 0x20
#define SEMI_APPLICATION_EXIT 0x20026

static int mps2_semi_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

int mps2_semi_open(const char *path, int mode)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return mps2_semi_call(SEMI_SYS_OPEN, block);
}

int mps2_semi_write(int fd, const void *buf, size_t len)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return mps2_semi_call(SEMI_SYS_WRITE, block);
}

int mps2_semi_close(int fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    return mps2_semi_call(SEMI_SYS_CLOSE, block);
}

/* SYS_EXIT_EXTENDED carries a status on 32-bit targets too (plain
 * SYS_EXIT only says success or failure there). */
void mps2_semi_exit(int status)
{
    uint32_t block[2] = {SEMI_APPLICATION_EXIT, (uint32_t)status};
    for (;;)
        mps2_semi_call(SEMI_SYS_EXIT_EXTENDED, block);
}
