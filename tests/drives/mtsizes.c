/* Prints what the kernel headers make of the tape ioctls (tests/drives/test_mtio.py). */
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mtio.h>

int main(void)
{
    printf("MTIOCTOP %lu\n", (unsigned long)MTIOCTOP);
    printf("MTIOCGET %lu\n", (unsigned long)MTIOCGET);
    printf("MTIOCPOS %lu\n", (unsigned long)MTIOCPOS);
    printf("sizeof_mtop %zu\n", sizeof(struct mtop));
    printf("sizeof_mtget %zu\n", sizeof(struct mtget));
    printf("sizeof_mtpos %zu\n", sizeof(struct mtpos));
    printf("mtop.mt_count %zu\n", offsetof(struct mtop, mt_count));
    printf("mtget.mt_erreg %zu\n", offsetof(struct mtget, mt_erreg));
    printf("mtget.mt_fileno %zu\n", offsetof(struct mtget, mt_fileno));
    printf("mtget.mt_blkno %zu\n", offsetof(struct mtget, mt_blkno));
    printf("MTSETBLK %d\n", MTSETBLK);
    printf("MTSETDENSITY %d\n", MTSETDENSITY);
    printf("MTOFFL %d\n", MTOFFL);
    printf("MT_ISSCSI2 %d\n", MT_ISSCSI2);
    return 0;
}
