/* main.c: placeholder until the CLI lands (same session). */
int main(void);

int
main(void)
{
	return 70;
}
