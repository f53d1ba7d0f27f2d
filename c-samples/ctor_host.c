/* Links ctor_lib (libctorleak.so), whose constructor leaks before main. */
int ctor_lib_value(void);

int main(void)
{
    return ctor_lib_value() == 5 ? 0 : 1;
}
