/* SM4-GCM encryption throughput of libgcrypt at 1 MiB, in process CPU time (the same
 * divisor as `openssl speed` and the tkms-sm4 criterion bench). Built and run by
 * benches/sm4-vs-openssl.sh: cc -O2 sm4-gcrypt.c -lgcrypt */
#include <gcrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    const size_t len = 1 << 20;
    unsigned char key[16] = {7}, iv[12] = {1}, tag[16];
    unsigned char *buf = calloc(len, 1);
    gcry_cipher_hd_t h;
    if (!buf || !gcry_check_version(NULL)) return 1;
    if (gcry_cipher_open(&h, GCRY_CIPHER_SM4, GCRY_CIPHER_MODE_GCM, 0)) {
        fprintf(stderr, "libgcrypt has no SM4-GCM\n");
        return 1;
    }
    gcry_cipher_setkey(h, key, sizeof key);
    double start = cpu_seconds(), elapsed;
    long n = 0;
    do {
        gcry_cipher_setiv(h, iv, sizeof iv);
        gcry_cipher_encrypt(h, buf, len, NULL, 0);
        gcry_cipher_gettag(h, tag, sizeof tag);
        n++;
        elapsed = cpu_seconds() - start;
    } while (elapsed < 3.0);
    printf("%.1f\n", n * (double)len / elapsed / 1e6);
    gcry_cipher_close(h);
    free(buf);
    return 0;
}
