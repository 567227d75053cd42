/* mps2.h - the QEMU mps2-an386 board as this port uses it: memory map,
 * CMSDK APB UART, SysTick clock, semihosting.
 *
 * Memory map (QEMU hw/arm/mps2.c, AN385/AN386 FPGA image):
 *   0x00000000  4 MiB ZBT SSRAM1   code and read-only data (the ELF)
 *   0x20000000  4 MiB ZBT SSRAM2/3 .data, .bss, stack (the linker script
 *                                  uses MPS2_RAM_LIMIT of it, MCU-sized)
 *   0x21000000 16 MiB PSRAM        the emulated NOR flash (flash.h); QEMU
 *                                  loads it from a file (-device loader)
 *   0x40004000  UART0 (RX IRQ 0)   the modem (AT commands)
 *   0x40005000  UART1              the console (log lines, results)
 * SYSCLK is 25 MHz; SysTick counts it.
 */
#ifndef MPS2_H
#define MPS2_H

#include <stddef.h>
#include <stdint.h>

#define MPS2_SYSCLK_HZ 25000000u
#define MPS2_FLASH_BASE 0x21000000u
#define MPS2_UART_MODEM 0x40004000u
#define MPS2_UART_CONSOLE 0x40005000u
#define MPS2_IRQ_MODEM_RX 0

/* Modem UART receive ring (filled by its RX interrupt), bytes. A power of
 * two; at 115200 baud-equivalent pacing 256 bytes is ~20 ms of input, and
 * the AT layer drains it byte by byte into the caller's buffer. */
#define MPS2_RX_RING 256

void mps2_uart_init(void);
void mps2_uart_putc(uint32_t base, uint8_t c);
void mps2_uart_write(uint32_t base, const void *buf, size_t len);
/* Next byte from the modem, or -1 when none arrived before deadline_ms. */
int mps2_modem_getc(uint32_t deadline_ms);
/* Bytes lost because the ring was full (should stay 0). */
uint32_t mps2_modem_overruns(void);

void mps2_clock_init(void);
uint32_t mps2_now_ms(void);
/* Sleep (WFI) until an interrupt: the SysTick or a received byte. */
void mps2_idle(void);

/* Console output: text, and unsigned decimal/hex numbers. */
void mps2_puts(const char *s);
void mps2_putu(uint32_t v);
void mps2_puthex(const uint8_t *buf, size_t len);

/* Semihosting (QEMU -semihosting): files on the host, exit status. */
int mps2_semi_open(const char *path, int mode); /* mode 4 = "wb", 0 = "r" */
int mps2_semi_write(int fd, const void *buf, size_t len); /* 0 = all written */
int mps2_semi_close(int fd);
void mps2_semi_exit(int status) __attribute__((noreturn));

#endif
