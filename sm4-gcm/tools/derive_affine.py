#!/usr/bin/env python3
"""Derive the affine maps that turn AES-field inversion into the SM4 S-box.

Usage: python3 derive_affine.py ~/.cargo/registry/src/*/  (the directory holding sm4-0.6.0,
whose consts.rs provides the GB/T 32907 S-box table).

1. Confirms S(x) = A·inv(A·x + c) + c with inversion mod 0x1F5, A the circulant matrix of
   rotations of 0xD3 and c = 0xD3 (checked for all 256 inputs).
2. Finds a root beta of 0x1F5 in the AES field (mod 0x11B); M: x^i -> beta^i is a field
   isomorphism, so S(x) = (A·M^-1)·inv_AES((M·A)·x + M·c) + c.
3. Prints the gf2p8affineqb operands (byte 7-i of the matrix = row of output bit i) and,
   for AES-NI, nibble tables for the map in and for (A·M^-1·AES_AFFINE^-1) after aesenclast.
The constants are pasted into src/sbox.rs, whose tests re-check them against the table.
"""
import re,sys
src=open(sys.argv[1]+"/sm4-0.6.0/src/consts.rs").read()
sb=src.split("SBOX")[1].split("];")[0]
S=[int(h,16) for h in re.findall(r"0x([0-9a-f]{2})",sb)]
def gmul(a,b,p):
    r=0
    while b:
        if b&1:r^=a
        b>>=1;a<<=1
        if a&0x100:a^=p
    return r
def gpow(a,e,p):
    r=1
    for _ in range(e): r=gmul(r,a,p)
    return r
def inv(x,p=0x11b):
    if x==0:return 0
    return gpow(x,254,p)
def par(x): return bin(x).count("1")&1
# linear maps as list of columns: col[j] = image of bit j
def apply(cols,x):
    o=0
    for j in range(8):
        if x>>j&1:o^=cols[j]
    return o
def compose(f,g): return [apply(f,apply(g,1<<j)) for j in range(8)]
def invert(cols):
    tab={apply(cols,x):x for x in range(256)}
    assert len(tab)==256
    return [tab[1<<j] for j in range(8)]
def rotr(x,n): return ((x>>n)|(x<<(8-n)))&0xff
rows=[rotr(0xd3,i) for i in range(8)]  # row i -> output bit 7-i
def Lf(x):
    o=0
    for i in range(8): o|=par(rows[i]&x)<<(7-i)
    return o
L=[Lf(1<<j) for j in range(8)]
c=0xd3
# root of sm4 poly in AES field
P=0x1f5
def peval(b):
    r=0
    for i in range(8,-1,-1):
        r=gmul(r,b,0x11b)
        if P>>i&1:r^=1
    return r
roots=[b for b in range(2,256) if peval(b)==0]
beta=roots[0]
M=[gpow(beta,j,0x11b) for j in range(8)]
for a in range(0,256,7):
  for b in range(0,256,11):
    assert apply(M,gmul(a,b,P))==gmul(apply(M,a),apply(M,b),0x11b)
Pre=compose(M,L); pre_c=apply(M,c)
Post=compose(L,invert(M)); post_c=c
for x in range(256):
    assert apply(Post,inv(apply(Pre,x)^pre_c))^post_c==S[x]
def gfni_matrix(cols):
    # output bit i row: bit j set if col[j] has bit i
    m=0
    for i in range(8):
        row=sum(((cols[j]>>i)&1)<<j for j in range(8))
        m|=row<<(8*(7-i))
    return m
print("roots",[hex(r) for r in roots],"beta",hex(beta))
print("PRE_MATRIX = 0x%016x, PRE_CONST = 0x%02x"%(gfni_matrix(Pre),pre_c))
print("POST_MATRIX = 0x%016x, POST_CONST = 0x%02x"%(gfni_matrix(Post),post_c))
# AES-NI: aes sbox z = Aaes inv ^ 0x63
def aes_aff(x):
    o=0
    for i in range(8):
        b=(x>>i&1)^(x>>((i+4)%8)&1)^(x>>((i+5)%8)&1)^(x>>((i+6)%8)&1)^(x>>((i+7)%8)&1)
        o|=b<<i
    return o^0x63
assert aes_aff(inv(0x53))==0xed and aes_aff(0)==0x63
Aaes=[aes_aff(1<<j)^0x63 for j in range(8)]
T=compose(Post,invert(Aaes)); tc=apply(T,0x63)^post_c
for x in range(256):
    z=aes_aff(inv(apply(Pre,x)^pre_c))
    assert apply(T,z)^tc==S[x]
def nib(cols,k):
    lo=[apply(cols,n)^k for n in range(16)]; hi=[apply(cols,n<<4) for n in range(16)]
    return lo,hi
for name,(cols,k) in (("PRE",(Pre,pre_c)),("POST",(T,tc))):
    lo,hi=nib(cols,k)
    print(name+"_LO = ["+", ".join("0x%02x"%v for v in lo)+"]")
    print(name+"_HI = ["+", ".join("0x%02x"%v for v in hi)+"]")
