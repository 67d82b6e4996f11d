#include <stdio.h>
int main(void) { puts("pavesync"); return 0; }
