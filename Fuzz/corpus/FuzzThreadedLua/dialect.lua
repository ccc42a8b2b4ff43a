local a = 0777
if a != 1 and !b then x = a | 2 & ~3 ^ 4 << 1 >> 2 end
local s = "!= inside a string" -- != in a comment
--[[ long
comment ]] return [==[ long ]==]
