/* startup.c - reset handler and vector table of the mps2-an386 firmware.
 *
 * The core loads SP and PC from the table at 0x0 (VTOR's reset value);
 * the reset handler copies .data from its load address in code memory,
 * clears .bss, runs main and hands main's status to the host through
 * semihosting. Faults end the run with status 70 so a broken image fails
 * the test at once instead of hanging until the timeout.
 */
#include <stdint.h>
#include <string.h>

#include "mps2.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

int main(void);
void mps2_systick_isr(void);
void mps2_modem_rx_isr(void);

#define MPS2_EXIT_FAULT 70

static void mps2_fault(void)
{
    mps2_puts("FAULT\n");
    mps2_semi_exit(MPS2_EXIT_FAULT);
}

static void mps2_unexpected(void)
{
    mps2_puts("unexpected interrupt\n");
    mps2_semi_exit(MPS2_EXIT_FAULT);
}

void mps2_reset(void) __attribute__((noreturn));
void mps2_reset(void)
{
    memcpy(__data_start, __data_load, (size_t)((char *)__data_end - (char *)__data_start));
    memset(__bss_start, 0, (size_t)((char *)__bss_end - (char *)__bss_start));
    mps2_semi_exit(main());
}

typedef void (*mps2_vector)(void);

/* 16 system exceptions, then the external interrupts up to the modem
 * UART's RX line (IRQ 0); nothing else is enabled. */
__attribute__((section(".vectors"), used))
static const mps2_vector mps2_vectors[16 + 1] = {
    (mps2_vector)(uintptr_t)__stack_top,
    mps2_reset,
    mps2_fault,       /* NMI */
    mps2_fault,       /* HardFault */
    mps2_fault,       /* MemManage */
    mps2_fault,       /* BusFault */
    mps2_fault,       /* UsageFault */
    0, 0, 0, 0,
    mps2_unexpected,  /* SVCall */
    mps2_unexpected,  /* DebugMon */
    0,
    mps2_unexpected,  /* PendSV */
    mps2_systick_isr, /* SysTick */
    mps2_modem_rx_isr /* IRQ 0: UART0 RX */
};
