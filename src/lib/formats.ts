// Importing this module registers every format with openImage(). Each format adds one line here.
import './erofs/register.ts';
import './rafs/register.ts';
import './composefs/register.ts';
