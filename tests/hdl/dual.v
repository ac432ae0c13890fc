// Test module with two-port banks: for k in 0..7, b[2k] = a[2k] + a[2k+1] and b[2k+1] = a[2k] - a[2k+1]
// (wrapping to 8 bits), reading a pair on ports 0 and 1 and writing a pair in the same cycle.
// Expected: cycles = 17.
module dual (
    clk,
    rst,
    start,
    done,
    m_a_addr0,
    m_a_rdata0,
    m_a_addr1,
    m_a_rdata1,
    m_b_addr0,
    m_b_wdata0,
    m_b_we0,
    m_b_addr1,
    m_b_wdata1,
    m_b_we1
);

input clk;
input rst;
input start;
output done;
reg done;
output [3:0] m_a_addr0;
reg [3:0] m_a_addr0;
input signed [7:0] m_a_rdata0;
output [3:0] m_a_addr1;
reg [3:0] m_a_addr1;
input signed [7:0] m_a_rdata1;
output [3:0] m_b_addr0;
reg [3:0] m_b_addr0;
output signed [7:0] m_b_wdata0;
reg signed [7:0] m_b_wdata0;
output m_b_we0;
reg m_b_we0;
output [3:0] m_b_addr1;
reg [3:0] m_b_addr1;
output signed [7:0] m_b_wdata1;
reg signed [7:0] m_b_wdata1;
output m_b_we1;
reg m_b_we1;

reg [1:0] state;
reg [3:0] k;

always @(posedge clk) begin: DUAL_FSM
    if (rst == 1) begin
        state <= 0;
        done <= 0;
        k <= 0;
        m_a_addr0 <= 0;
        m_a_addr1 <= 0;
        m_b_addr0 <= 0;
        m_b_addr1 <= 0;
        m_b_wdata0 <= 0;
        m_b_wdata1 <= 0;
        m_b_we0 <= 0;
        m_b_we1 <= 0;
    end
    else begin
        m_b_we0 <= 0;
        m_b_we1 <= 0;
        case (state)
            2'd0: begin
                if (start) begin
                    done <= 0;
                    k <= 0;
                    m_a_addr0 <= 0;
                    m_a_addr1 <= 1;
                    state <= 2'd1;
                end
            end
            2'd1: begin
                state <= 2'd2;
            end
            2'd2: begin
                m_b_addr0 <= {k[2:0], 1'b0};
                m_b_addr1 <= {k[2:0], 1'b1};
                m_b_wdata0 <= (m_a_rdata0 + m_a_rdata1);
                m_b_wdata1 <= (m_a_rdata0 - m_a_rdata1);
                m_b_we0 <= 1;
                m_b_we1 <= 1;
                k <= (k + 1);
                m_a_addr0 <= {k[2:0] + 3'd1, 1'b0};
                m_a_addr1 <= {k[2:0] + 3'd1, 1'b1};
                state <= (k == 7) ? 2'd3 : 2'd1;
            end
            default: begin
                done <= 1;
                state <= 2'd0;
            end
        endcase
    end
end

endmodule
